"""A small GitHub REST client: issue comments and one sticky comment per pull request.

Standard library only (``urllib``), so the gate posts its comment without extra
dependencies. The HTTP layer is a plain callable, injectable for tests::

    def transport(method, url, headers, body):
        return 200, {"content-type": "application/json"}, b"[]"

    client = GitHubClient("ghp_...", "octo/repo", transport=transport)
    client.upsert_sticky_comment(7, "<!-- evalkit-gate:smoke -->", "## PASS ...")

The token goes into the ``Authorization`` header and nowhere else: it is not part of
``repr``, error messages or logs, and it is only ever sent to ``api_url``'s origin
(pagination links to another host are refused).
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from evalkit.errors import EvalkitError

__all__ = [
    "GitHubAuthError",
    "GitHubClient",
    "GitHubError",
    "GitHubNotFoundError",
    "GitHubPermissionError",
    "IssueComment",
    "StickyResult",
    "Transport",
    "urllib_transport",
]

Transport = Callable[
    [str, str, Mapping[str, str], bytes | None], tuple[int, Mapping[str, str], bytes]
]
"""``(method, url, headers, body) -> (status, headers, body)``; must not raise on 4xx/5xx."""

API_VERSION = "2022-11-28"
PER_PAGE = 100
MAX_PAGES = 50
"""Stop paginating after this many pages (5,000 comments) rather than loop forever."""

_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class GitHubError(EvalkitError):
    """A GitHub API call failed.

    Attributes:
        status: HTTP status (0 when the server could not be reached).
        method: HTTP method of the call.
        path: URL path of the call (no host, no query, never the token).
        api_message: GitHub's own ``message`` field, when it sent one.
    """

    def __init__(
        self, message: str, *, status: int, method: str, path: str, api_message: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.path = path
        self.api_message = api_message


class GitHubAuthError(GitHubError):
    """401: the token is missing, expired or wrong."""


class GitHubPermissionError(GitHubError):
    """403: the token may not do this (fork PRs get a read-only token), or rate limited."""


class GitHubNotFoundError(GitHubError):
    """404: the repository or issue does not exist, or the token cannot see it."""


@dataclass(frozen=True, slots=True)
class IssueComment:
    """One comment on an issue or pull request.

    Attributes:
        id: comment id (used to update it).
        body: Markdown body.
        html_url: link to the comment on github.com.
        author: login of its author.
    """

    id: int
    body: str
    html_url: str
    author: str

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> IssueComment:
        """Build from a REST API comment object."""
        user = data.get("user") or {}
        return cls(
            id=int(data["id"]),
            body=str(data.get("body") or ""),
            html_url=str(data.get("html_url") or ""),
            author=str(user.get("login") or ""),
        )


@dataclass(frozen=True, slots=True)
class StickyResult:
    """What :meth:`GitHubClient.upsert_sticky_comment` did.

    Attributes:
        action: ``created`` or ``updated``.
        comment: the comment as GitHub returned it.
    """

    action: Literal["created", "updated"]
    comment: IssueComment


def urllib_transport(timeout_s: float = 30.0) -> Transport:
    """The default HTTP layer: ``urllib.request`` with a timeout, 4xx/5xx returned."""

    def send(
        method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[int, Mapping[str, str], bytes]:
        request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return int(response.status), dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as exc:
            return int(exc.code), dict(exc.headers.items()), exc.read()

    return send


class GitHubClient:
    """Issue-comment calls of the GitHub REST API for one repository.

    Args:
        token: a GitHub token (``GITHUB_TOKEN`` or a PAT); sent only to ``api_url``.
        repo: ``owner/name``.
        api_url: REST API root (``GITHUB_API_URL`` on GitHub Enterprise).
        transport: HTTP layer; defaults to :func:`urllib_transport`.
    """

    def __init__(
        self,
        token: str,
        repo: str,
        api_url: str = "https://api.github.com",
        transport: Transport | None = None,
    ) -> None:
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
            raise ValueError(f"repo must look like 'owner/name', got {repo!r}")
        self._token = token
        self.repo = repo
        self.api_url = api_url.rstrip("/")
        self._origin = _origin(self.api_url)
        self._transport = transport or urllib_transport()

    def __repr__(self) -> str:
        return f"GitHubClient(repo={self.repo!r}, api_url={self.api_url!r})"

    # -- comments ---------------------------------------------------------------------

    def list_issue_comments(self, number: int) -> list[IssueComment]:
        """Every comment on issue or pull request *number*, oldest first (all pages)."""
        url: str | None = self._url(f"/repos/{self.repo}/issues/{number}/comments")
        url = f"{url}?per_page={PER_PAGE}"
        comments: list[IssueComment] = []
        pages = 0
        while url is not None and pages < MAX_PAGES:
            status, headers, data = self._call("GET", url)
            if not isinstance(data, list):
                raise self._error(status, "GET", url, "expected a list of comments")
            comments.extend(IssueComment.from_api(c) for c in data)
            url = self._next_page(headers)
            pages += 1
        return comments

    def create_issue_comment(self, number: int, body: str) -> IssueComment:
        """Post a new comment on issue or pull request *number*."""
        url = self._url(f"/repos/{self.repo}/issues/{number}/comments")
        _, _, data = self._call("POST", url, {"body": body})
        return IssueComment.from_api(data)

    def update_issue_comment(self, comment_id: int, body: str) -> IssueComment:
        """Replace the body of comment *comment_id*."""
        url = self._url(f"/repos/{self.repo}/issues/comments/{comment_id}")
        _, _, data = self._call("PATCH", url, {"body": body})
        return IssueComment.from_api(data)

    def find_sticky_comment(self, number: int, marker: str) -> IssueComment | None:
        """The first comment whose body starts with *marker* (quotes of it do not count)."""
        for comment in self.list_issue_comments(number):
            if comment.body.lstrip().startswith(marker):
                return comment
        return None

    def upsert_sticky_comment(self, pr_number: int, marker: str, body: str) -> StickyResult:
        """Create the comment marked *marker* on *pr_number*, or update it if it exists.

        The marker (an HTML comment, invisible when rendered) is put on the first line
        of the body, so one comment per marker is kept however often the gate runs.

        Raises:
            GitHubAuthError: 401.
            GitHubPermissionError: 403 (a fork PR's read-only token, missing
                ``pull-requests: write``, rate limit).
            GitHubNotFoundError: 404.
            GitHubError: any other failure.
        """
        text = body if body.lstrip().startswith(marker) else f"{marker}\n{body}"
        existing = self.find_sticky_comment(pr_number, marker)
        if existing is None:
            return StickyResult("created", self.create_issue_comment(pr_number, text))
        return StickyResult("updated", self.update_issue_comment(existing.id, text))

    # -- HTTP -------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.api_url + path

    def _headers(self, has_body: bool) -> dict[str, str]:
        from evalkit import __version__

        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": f"evalkit/{__version__}",
        }
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if has_body:
            headers["Content-Type"] = "application/json; charset=utf-8"
        return headers

    def _call(
        self, method: str, url: str, payload: Mapping[str, Any] | None = None
    ) -> tuple[int, Mapping[str, str], Any]:
        if _origin(url) != self._origin:
            # A pagination link pointing elsewhere must not receive the token.
            raise self._error(0, method, url, f"refusing to follow a link off {self._origin}")
        body = None if payload is None else json.dumps(payload).encode("utf-8")
        try:
            status, headers, raw = self._transport(method, url, self._headers(body is not None),
                                                   body)
        except (OSError, http.client.HTTPException) as exc:
            raise self._error(0, method, url, f"cannot reach {self._origin}: {exc}") from None
        data: Any = None
        if raw:
            try:
                data = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                data = None
        if not 200 <= status < 300:
            api_message = str(data.get("message", "")) if isinstance(data, dict) else ""
            raise self._error(status, method, url, api_message, headers)
        return status, {k.lower(): v for k, v in headers.items()}, data

    def _next_page(self, headers: Mapping[str, str]) -> str | None:
        match = _LINK_NEXT.search(headers.get("link", ""))
        return match.group(1) if match else None

    def _error(
        self,
        status: int,
        method: str,
        url: str,
        api_message: str,
        headers: Mapping[str, str] | None = None,
    ) -> GitHubError:
        path = urllib.parse.urlsplit(url).path
        api_message = self._scrub(api_message)
        said = f" (GitHub said: {api_message})" if api_message else ""
        lower = {k.lower(): v for k, v in (headers or {}).items()}
        kw: dict[str, Any] = {"status": status, "method": method, "path": path,
                              "api_message": api_message}
        where = f"{method} {path}"
        if status == 401:
            return GitHubAuthError(
                f"{where}: 401 Unauthorized{said}; the token is missing, expired or wrong "
                "(check the action's github-token input)", **kw)
        if status == 403 or status == 429:
            if lower.get("x-ratelimit-remaining") == "0" or status == 429:
                return GitHubPermissionError(
                    f"{where}: {status} rate limited{said}; try again later", **kw)
            return GitHubPermissionError(
                f"{where}: 403 Forbidden{said}; the token may not write to {self.repo}. "
                "Pull requests from forks get a read-only GITHUB_TOKEN; otherwise give the "
                "job 'permissions: pull-requests: write'", **kw)
        if status == 404:
            return GitHubNotFoundError(
                f"{where}: 404 Not Found{said}; {self.repo} or the pull request does not "
                "exist, or the token cannot see it", **kw)
        if status == 0:
            return GitHubError(f"{where}: {api_message}", **kw)
        return GitHubError(f"{where}: HTTP {status}{said}", **kw)

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
