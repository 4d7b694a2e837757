"""Issue 25, item 8: a downloaded hierarchy without a published sha256 is pinned only once it
passed the checks a configured one would (the parser's full read, the config's `classes:`): a
server that sends half the file, with no length header, gets nothing pinned, and the whole file
is pinned when it comes."""

import http.server
import threading

import pytest
from conftest import run_snakemake, tiny_config

from haframe.downloads import read_lock
from haframe.hierarchy import Hierarchy

pytestmark = pytest.mark.dag

TREE = Hierarchy.from_paths([["root", f"g{i % 2}", f"c{i}"] for i in range(6)]).to_tsv()


class LengthlessServer:
    """Serves ``body`` over HTTP/1.0 with no Content-Length: the end of the connection ends it."""

    def __init__(self, body: str):
        self.body = body
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.end_headers()
                self.wfile.write(server.body.encode())

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/tree.tsv"


@pytest.fixture
def server(monkeypatch):
    for variable in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    served = LengthlessServer("".join(TREE.splitlines(keepends=True)[:4]))  # 3 of 6 classes, cut at a line: it parses
    yield served
    served.httpd.shutdown()


def test_a_cut_download_is_refused_unpinned_and_the_whole_file_pinned_later(tmp_path, server):
    config = tiny_config(seeds=[0])
    section = config["datasets"]["synthetic"]
    section.update(classes=6, height=2, hierarchy={"source": server.url, "format": "tsv"})
    section["synthetic"].update(branching=[2, 3])
    failed = run_snakemake(tmp_path, config, "frames", check=False)
    assert failed.returncode != 0
    log = (tmp_path / "results/tiny/synthetic/logs/parse_hierarchy.log").read_text()
    assert "expected classes = 6 (config), found" in log
    lock = tmp_path / "data" / "downloads.lock.yaml"
    assert read_lock(lock) == {}
    assert not (tmp_path / "results/tiny/synthetic/hierarchy/source/tree.tsv").exists()
    server.body = TREE
    run_snakemake(tmp_path, config, "frames")
    entry = read_lock(lock)["synthetic"]["hierarchy"][server.url]
    assert (entry["url"], entry["size"], entry["validated"]) == (
        server.url,
        len(TREE),
        "parsed as tsv: 6 classes, height 2",
    )
