"""A read-only WsgiDAV provider over the library tree.

Everything a PROPFIND or HEAD needs (size, type, ETag, dates) comes from the
tree, which comes from the database; only `get_content()` reaches for bytes,
through the `ContentOpener` the server plugs in.
"""

from __future__ import annotations

import io
from typing import BinaryIO, Callable

from wsgidav.dav_error import HTTP_GATEWAY_TIMEOUT, HTTP_SERVICE_UNAVAILABLE, DAVError
from wsgidav.dav_provider import DAVCollection, DAVNonCollection, DAVProvider

from momoshtrem.library.tree import FileNode, FolderNode, TreeCache
from momoshtrem.torrent.reader import ClientGone, ReadError, ReadTimeout

ContentOpener = Callable[[FileNode, dict], BinaryIO]  # the file, and the request's environ
# nginx's code for a client that hung up before its answer: never sent, it tells the request log and the
# metrics that nothing failed on our side.
CLIENT_CLOSED_REQUEST = 499


class LibraryProvider(DAVProvider):
    def __init__(self, trees: TreeCache, open_content: ContentOpener) -> None:
        super().__init__()
        self.trees = trees
        self.open_content = open_content

    def is_readonly(self) -> bool:
        return True

    def get_resource_inst(self, path: str, environ: dict):
        node = self.trees.tree().lookup(path)
        if node is None:
            return None
        if isinstance(node, FolderNode):
            return FolderResource(path, environ, node)
        return FileResource(path, environ, node)


class FolderResource(DAVCollection):
    def __init__(self, path: str, environ: dict, node: FolderNode) -> None:
        super().__init__(path, environ)
        self.node = node

    def get_display_name(self) -> str:
        return self.node.name

    def get_member_names(self) -> list[str]:
        return list(self.node.children)

    def get_member(self, name: str):
        child = self.node.children.get(name)
        if child is None:
            return None
        path = self.path.rstrip("/") + "/" + name
        if isinstance(child, FolderNode):
            return FolderResource(path, self.environ, child)
        return FileResource(path, self.environ, child)

    def get_creation_date(self) -> float:
        return float(self.node.modified)

    def get_last_modified(self) -> float:
        return float(self.node.modified)

    def get_etag(self) -> None:
        return None

    def support_etag(self) -> bool:
        return False

    # Infuse's browser took folders for folders only with these two, on some servers (clients.md).
    _FOLDER_EXTRAS = {"{DAV:}getcontentlength": "0", "{DAV:}iscollection": "1"}

    def get_property_names(self, *, is_allprop: bool) -> list[str]:
        return [*super().get_property_names(is_allprop=is_allprop), *self._FOLDER_EXTRAS]

    def get_property_value(self, name: str):
        if name in self._FOLDER_EXTRAS:
            return self._FOLDER_EXTRAS[name]
        return super().get_property_value(name)


class FileResource(DAVNonCollection):
    def __init__(self, path: str, environ: dict, node: FileNode) -> None:
        super().__init__(path, environ)
        self.node = node

    def get_display_name(self) -> str:
        return self.node.name

    def get_content_length(self) -> int:
        return self.node.size

    def get_content_type(self) -> str:
        return self.node.content_type

    def get_creation_date(self) -> float:
        return float(self.node.modified)

    def get_last_modified(self) -> float:
        return float(self.node.modified)

    def get_etag(self) -> str:
        return self.node.etag

    def support_etag(self) -> bool:
        return True

    def support_ranges(self) -> bool:
        return True

    def get_content(self) -> BinaryIO:
        if not self.node.info_hash and not self.node.stored_path:
            return io.BytesIO(b"")  # a marker file
        try:
            return _StatusOnError(self.provider.open_content(self.node, self.environ))
        except OSError as exc:  # a stored subtitle removed behind the library's back, a full file table
            raise DAVError(HTTP_SERVICE_UNAVAILABLE, f"'{self.node.name}' cannot be opened: {exc.strerror or exc}") from exc


class _StatusOnError:
    """Turns a failed read into a DAVError, so one that fails before the first byte is a clear 503/504.

    After the first byte the status is gone: the connection is cut short instead.
    """

    def __init__(self, reader: BinaryIO) -> None:
        self._reader = reader

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._reader.seek(offset, whence)

    def read(self, size: int = -1) -> bytes:
        try:
            return self._reader.read(size)
        except ReadTimeout as exc:
            raise DAVError(HTTP_GATEWAY_TIMEOUT, str(exc)) from exc
        except ClientGone as exc:
            raise DAVError(CLIENT_CLOSED_REQUEST, str(exc)) from exc
        except ReadError as exc:
            raise DAVError(HTTP_SERVICE_UNAVAILABLE, str(exc)) from exc

    def close(self) -> None:
        self._reader.close()
