"""Ray inputs and rows (issue 19, item 17), without starting Ray."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import pytest

from cli_helpers import gradient_image, write_image


def test_a_corrupt_rows_table_is_rebuilt_not_a_raw_arrow_error(tmp_path: Path) -> None:
    from depthgraph.scale.inputs import list_inputs
    from depthgraph.scale.rows import ROWS_FILE, read_rows, write_rows

    write_image(tmp_path / "in" / "a.png", gradient_image(8, 6))
    out = tmp_path / "out"
    out.mkdir()
    (out / ROWS_FILE).write_bytes(b"PAR1 this is not a parquet file")
    with pytest.warns(UserWarning, match="cannot be read"):
        assert read_rows(out) == []
    plan = list_inputs([str(tmp_path / "in")])
    with pytest.warns(UserWarning):
        path = write_rows(out, plan, [], [])
    assert path.is_file()
    assert read_rows(out) == []  # a valid (empty) table again


@pytest.mark.parametrize("name", ["with space.png", "näme ü.png"])
def test_file_uris_name_files_with_spaces_and_non_ascii(tmp_path: Path, name: str) -> None:
    from depthgraph.scale.inputs import list_inputs

    folder = tmp_path / "my images"
    write_image(folder / name, gradient_image(8, 6))
    import pyarrow as pa

    from depthgraph.scale.ray import read_batch

    for uri in (f"file://{folder}/*.png", f"file://{quote(str(folder))}/*.png",
                f"file://{quote(str(folder / name))}"):
        items = list_inputs([uri])
        assert len(items) == 1 and name in items[0].input or quote(name) in items[0].input, uri
        rows = read_batch(pa.Table.from_pylist(
            [{"input": i.input, "source": i.source, "key": i.key} for i in items])).to_pylist()
        assert rows[0]["read_error"] is None, rows[0]["read_error"]
        assert rows[0]["data"] == (folder / name).read_bytes()


def test_an_unreachable_bucket_fails_within_the_retry_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    from depthgraph.image_files import ImageReadError
    from depthgraph.scale.inputs import REMOTE_RETRY_ENV, list_inputs

    monkeypatch.setenv(REMOTE_RETRY_ENV, "1")
    start = time.monotonic()
    with pytest.raises(ImageReadError, match="cannot list"):
        list_inputs(["gs://depthgraph-no-such-bucket/x"])
    assert time.monotonic() - start < 60
