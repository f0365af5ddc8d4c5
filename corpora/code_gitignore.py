"""A source tree's own ignore rules, as git applies them: every `.gitignore` for its own subtree
and a repository's `.git/info/exclude`, through pathspec's git wildmatch patterns."""
from __future__ import annotations

import re

GITIGNORE_NAME = ".gitignore"
GIT_EXCLUDE_PATH = ".git/info/exclude"
MAX_IGNORE_FILE_BYTES = 1024 * 1024
# pathspec's GitIgnoreSpecPattern marks, with this group, a match that ends at a "/": the pattern
# matched a folder (the path itself when the path is that folder, else one of its ancestors).
_DIR_MARK = "ps_d"


def is_ignore_file(path: str) -> bool:
    """A `.gitignore` anywhere in the tree, or a repository's `.git/info/exclude`."""
    return (path.rsplit("/", 1)[-1] == GITIGNORE_NAME
            or path == GIT_EXCLUDE_PATH or path.endswith("/" + GIT_EXCLUDE_PATH))


class GitIgnoreRules:
    """git's ignore rules for one tree, parsed by pathspec's GitIgnoreSpec.

    A `.gitignore` applies to its own folder's subtree, its patterns relative to that folder; for
    a path, the deepest `.gitignore` with a matching pattern decides (its last matching pattern,
    so `!` re-includes), then `.git/info/exclude` of the repository holding the path. Callers
    test folders before what they hold and never look inside an ignored folder, which is git's
    "a file cannot be re-included if a parent folder is excluded". Hence only a pattern's own
    match on the path counts here, never pathspec's match on an ancestor folder (`!*/` must
    re-include folders, not the files in them). Not read: a global `core.excludesFile`, and any
    `.gitignore` above the input's root.
    """

    def __init__(self) -> None:
        self._gitignores: dict[str, list[tuple[re.Pattern, re.Pattern, bool]]] = {}
        self._excludes: dict[str, list[tuple[re.Pattern, re.Pattern, bool]]] = {}
        self._folder_verdicts: dict[str, bool] = {}
        self._counted_folders: set[str] = set()

    def add(self, path: str, data: bytes) -> None:
        """Rules of the ignore file at `path` (relative to the tree's root)."""
        from pathspec import GitIgnoreSpec  # only trees that have ignore files pay the import

        compiled = []
        lines = data.decode("utf-8-sig", "replace").splitlines()
        for pattern in GitIgnoreSpec.from_lines(lines).patterns:
            if pattern.include is None or pattern.regex is None:
                continue  # a comment or a blank line
            source = pattern.regex.pattern  # anchored with ^, else meant for re.search
            whole = re.compile(source if source.startswith("^") else ".*" + source,
                               pattern.regex.flags)
            compiled.append((pattern.regex, whole, pattern.include))
        if path == GIT_EXCLUDE_PATH or path.endswith("/" + GIT_EXCLUDE_PATH):
            self._excludes[path[: -len(GIT_EXCLUDE_PATH)]] = compiled
        else:
            self._gitignores[path[: -len(GITIGNORE_NAME)]] = compiled

    @staticmethod
    def _verdict(patterns, rel: str, is_dir: bool) -> bool | None:
        for search, whole, ignore in reversed(patterns):  # the last matching pattern decides
            match = search.search(rel)
            if match is not None and not match.groupdict().get(_DIR_MARK):
                return ignore  # matched the path itself (a name, a glob, `a/**`)
            if is_dir:
                match = whole.fullmatch(rel + "/")  # a folder pattern (`build/`, `*/`) on it
                if match is not None and match.groupdict().get(_DIR_MARK):
                    if match.end(_DIR_MARK) == len(rel) + 1:
                        return ignore
        return None

    def is_ignored(self, path: str, *, is_dir: bool) -> bool:
        if not self._gitignores and not self._excludes:
            return False
        parts = path.split("/")
        if ".git" in parts:
            return False  # git's own folder is never matched against ignore rules
        for table in (self._gitignores, self._excludes):
            for depth in range(len(parts) - 1, -1, -1):  # the deepest folder first
                patterns = table.get("/".join(parts[:depth]) + "/" if depth else "")
                if patterns:
                    verdict = self._verdict(patterns, "/".join(parts[depth:]), is_dir)
                    if verdict is not None:
                        return verdict
        return False

    def skip_listed(self, path: str, skips) -> bool:
        """For a flat listing (archive members, a remote tree), where no walk prunes folders:
        whether to drop `path`, counting an ignored file as `code_gitignored` and a topmost
        ignored folder once, as `code_gitignored_directory`, when the first path in it is seen."""
        if not self._gitignores and not self._excludes:
            return False
        slash = path.find("/")
        while slash != -1:
            folder = path[:slash]
            ignored = self._folder_verdicts.get(folder)
            if ignored is None:
                ignored = self._folder_verdicts[folder] = self.is_ignored(folder, is_dir=True)
            if ignored:
                if folder not in self._counted_folders:
                    self._counted_folders.add(folder)
                    skips.skip("code_gitignored_directory")
                return True
            slash = path.find("/", slash + 1)
        if self.is_ignored(path, is_dir=False):
            skips.skip("code_gitignored")
            return True
        return False
