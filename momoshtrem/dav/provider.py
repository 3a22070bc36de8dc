"""A read-only WsgiDAV provider over the library tree.

Everything a PROPFIND or HEAD needs (size, type, ETag, dates) comes from the
tree, which comes from the database; only `get_content()` reaches for bytes,
through the `ContentOpener` the server plugs in.
"""

from __future__ import annotations

from typing import BinaryIO, Callable

from wsgidav.dav_provider import DAVCollection, DAVNonCollection, DAVProvider

from momoshtrem.library.tree import FileNode, FolderNode, TreeCache

ContentOpener = Callable[[FileNode], BinaryIO]


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
        return self.provider.open_content(self.node)
