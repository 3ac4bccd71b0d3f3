"""The GitHub client against a recording HTTP server on 127.0.0.1 (and an injected transport)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from evalkit.ci import (
    GitHubAuthError,
    GitHubClient,
    GitHubError,
    GitHubNotFoundError,
    GitHubPermissionError,
)

TOKEN = "ghs_secretTOKEN123"
MARKER = "<!-- evalkit-gate:smoke -->"


def client_for(fake) -> GitHubClient:
    return GitHubClient(TOKEN, "octo/evalkit", api_url=fake.url)


def test_upsert_creates_then_updates_the_same_comment(fake_github) -> None:
    client = client_for(fake_github)
    first = client.upsert_sticky_comment(7, MARKER, "## PASS\nrun 1")
    assert first.action == "created"
    second = client.upsert_sticky_comment(7, MARKER, "## FAIL\nrun 2")
    assert second.action == "updated"
    assert second.comment.id == first.comment.id

    methods = [(r.method, r.path) for r in fake_github.requests]
    assert methods == [
        ("GET", "/repos/octo/evalkit/issues/7/comments"),
        ("POST", "/repos/octo/evalkit/issues/7/comments"),
        ("GET", "/repos/octo/evalkit/issues/7/comments"),
        ("PATCH", f"/repos/octo/evalkit/issues/comments/{first.comment.id}"),
    ]
    # one comment on the PR, with the marker on its first line and the latest body
    (only,) = fake_github.comments[7]
    assert only["body"] == f"{MARKER}\n## FAIL\nrun 2"
    for request in fake_github.requests:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"
    assert fake_github.calls("POST")[0].body == {"body": f"{MARKER}\n## PASS\nrun 1"}


def test_pagination_finds_the_sticky_comment_on_a_later_page(fake_github) -> None:
    fake_github.page_size = 2
    for i in range(4):
        fake_github.add_comment(3, f"review comment {i}")
    fake_github.add_comment(3, f"> {MARKER}\n> quoted by a reviewer: not the sticky one")
    sticky = fake_github.add_comment(3, f"{MARKER}\nold results", "github-actions[bot]")
    fake_github.add_comment(3, "a later comment")

    client = client_for(fake_github)
    comments = client.list_issue_comments(3)
    assert [c.id for c in comments] == [c["id"] for c in fake_github.comments[3]]
    pages = [r.query.get("page", ["1"])[0] for r in fake_github.calls("GET")]
    assert pages == ["1", "2", "3", "4"]

    result = client.upsert_sticky_comment(3, MARKER, "new results")
    assert result.action == "updated"
    assert result.comment.id == sticky["id"]
    assert not fake_github.calls("POST")
    assert len(fake_github.comments[3]) == 7


def test_fork_pr_403_is_a_clear_permission_error_without_the_token(fake_github) -> None:
    fake_github.fail["POST"] = (403, {}, {"message": "Resource not accessible by integration"})
    client = client_for(fake_github)
    with pytest.raises(GitHubPermissionError) as info:
        client.upsert_sticky_comment(9, MARKER, "body")
    err = info.value
    assert err.status == 403
    assert err.method == "POST"
    assert "Resource not accessible by integration" in str(err)
    assert "fork" in str(err)
    assert "pull-requests: write" in str(err)
    assert TOKEN not in str(err)
    assert TOKEN not in repr(client)


@pytest.mark.parametrize(
    ("status", "headers", "error", "words"),
    [
        (401, {}, GitHubAuthError, "expired or wrong"),
        (404, {}, GitHubNotFoundError, "cannot see it"),
        (403, {"X-RateLimit-Remaining": "0"}, GitHubPermissionError, "rate limited"),
        (500, {}, GitHubError, "HTTP 500"),
    ],
)
def test_error_statuses(fake_github, status, headers, error, words) -> None:
    fake_github.fail["GET"] = (status, headers, {"message": f"echo {TOKEN}"})
    with pytest.raises(error) as info:
        client_for(fake_github).list_issue_comments(1)
    assert words in str(info.value)
    assert info.value.status == status
    assert TOKEN not in str(info.value)  # even when the server echoes it back


def test_unreachable_server_is_a_github_error() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = GitHubClient(TOKEN, "octo/evalkit", api_url=f"http://127.0.0.1:{port}")
    with pytest.raises(GitHubError) as info:
        client.create_issue_comment(1, "x")
    assert info.value.status == 0
    assert "cannot reach" in str(info.value)


def test_injected_transport_and_no_token_leak_to_other_hosts() -> None:
    seen: list[tuple[str, str, Mapping[str, str]]] = []

    def transport(method, url, headers, body):
        seen.append((method, url, headers))
        link = '<https://evil.example/steal?page=2>; rel="next"'
        return 200, {"Link": link}, b'[{"id": 1, "body": "hi", "user": {"login": "a"}}]'

    client = GitHubClient(TOKEN, "octo/evalkit", api_url="https://ghe.example/api/v3",
                          transport=transport)
    with pytest.raises(GitHubError, match="refusing to follow a link"):
        client.list_issue_comments(5)
    assert [url for _, url, _ in seen] == [
        "https://ghe.example/api/v3/repos/octo/evalkit/issues/5/comments?per_page=100"
    ]


def test_repo_must_be_owner_slash_name() -> None:
    with pytest.raises(ValueError, match="owner/name"):
        GitHubClient(TOKEN, "not a repo")
