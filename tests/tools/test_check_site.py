"""The site check finds what breaks a site opened from disk (no browser needed here)."""

from __future__ import annotations

from pathlib import Path

from tools.check_site import check_links

PAGE = """<html><head>
<link rel="stylesheet" href="{root}assets/main.css">
{head}
</head><body><h2 id="here">Here</h2>{body}</body></html>
"""


def site(tmp_path: Path, head: str = "", body: str = "") -> Path:
    (tmp_path / "assets").mkdir(parents=True)
    (tmp_path / "assets" / "main.css").write_text("")
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "index.html").write_text(PAGE.format(root="../", head="", body=""))
    (tmp_path / "index.html").write_text(PAGE.format(root="", head=head, body=body))
    return tmp_path


def test_a_site_whose_links_name_files_passes(tmp_path: Path) -> None:
    body = (
        '<a href="api/index.html#here">api</a> <a href="#here">top</a> '
        '<a href="https://trio.readthedocs.io/">trio</a> <a href="mailto:a@b">mail</a>'
    )
    assert list(check_links(site(tmp_path, body=body))) == []


def test_a_link_to_a_folder_is_a_bare_listing_from_disk(tmp_path: Path) -> None:
    problems = list(check_links(site(tmp_path, body='<a href="api/">api</a>')))
    assert problems == ["index.html: api/ is a folder (a bare listing when opened from disk)"]


def test_missing_files_and_anchors_are_found(tmp_path: Path) -> None:
    body = '<a href="concepts.html">c</a> <a href="api/index.html#gone">g</a> <a href="#nope">n</a>'
    assert list(check_links(site(tmp_path, body=body))) == [
        "index.html: concepts.html is missing",
        "index.html: api/index.html#gone has no #gone there",
        "index.html: #nope has no #nope there",
    ]


def test_assets_from_the_network_are_refused(tmp_path: Path) -> None:
    head = (
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'
        '<script src="//unpkg.com/shim.js"></script>'
    )
    problems = list(check_links(site(tmp_path, head=head)))
    assert problems == [
        "index.html: loads https://fonts.googleapis.com/css?family=Roboto from the network",
        "index.html: loads //unpkg.com/shim.js from the network",
    ]


def test_a_link_out_of_the_site_is_found(tmp_path: Path) -> None:
    problems = list(check_links(site(tmp_path / "site", body='<a href="../x.html">x</a>')))
    assert problems == ["index.html: ../x.html points out of the site"]
