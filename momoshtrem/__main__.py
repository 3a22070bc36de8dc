from momoshtrem.cli.main import main

raise SystemExit(main())
