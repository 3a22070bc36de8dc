-- Loaded by bench/stream_bench.py into mpv: two seconds after the first frame, seek to the position given
-- in --script-opts=bench-seek-to=SECONDS, and say so in the log. The benchmark times the seek from that line
-- to mpv's next "first video frame after restart shown": a seek in a file that plays, with its connections
-- warm and its readahead in flight, as a user skipping ahead does it.
local target = mp.get_opt("bench-seek-to")
local armed = false

mp.register_event("playback-restart", function()
    if armed then
        return
    end
    armed = true
    mp.add_timeout(2, function()
        mp.msg.info("bench: seeking to " .. target)
        mp.commandv("seek", target, "absolute")
    end)
end)
