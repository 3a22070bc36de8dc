"""The read-only WebDAV share: the library tree served by WsgiDAV."""
