"""The download command's hash checking, on local file:// sources (no network)."""

import hashlib

import pytest

from disco_export import download


def test_fetch_verifies_sha256(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"weights" * 1000)
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = tmp_path / "out" / "model.pt"
    dest.parent.mkdir()
    assert download.fetch(dest, sha, [src.as_uri()], log=lambda m: None) == sha
    assert dest.read_bytes() == src.read_bytes()
    # Present with the right hash: kept, no source needed.
    assert download.fetch(dest, sha, ["file:///nonexistent"], log=lambda m: None) == sha


def test_fetch_rejects_a_wrong_hash_and_keeps_the_part_file(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"not the published file")
    dest = tmp_path / "model.pt"
    with pytest.raises(download.DownloadError, match="does not match the published"):
        download.fetch(dest, "0" * 64, [src.as_uri()], log=lambda m: None)
    assert not dest.exists() and (tmp_path / "model.pt.part").exists()


def test_fetch_falls_back_to_the_next_source(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"abc")
    sha = hashlib.sha256(b"abc").hexdigest()
    dest = tmp_path / "m.pt"
    assert download.fetch(dest, sha[:8], [(tmp_path / "missing").as_uri(), src.as_uri()], log=lambda m: None) == sha
    with pytest.raises(download.DownloadError, match="every source failed"):
        download.fetch(tmp_path / "n.pt", sha, [(tmp_path / "missing").as_uri()], log=lambda m: None)


def test_published_hashes_are_full_sha256():
    shas = [s for s, _ in download.DIFFUSION.values()] + [download.SECONDARY[1]] + list(download.CLIP_SHA256.values())
    assert all(len(s) == 64 and int(s, 16) >= 0 for s in shas)
    assert download.DIFFUSION["512x512_diffusion_uncond_finetune_008100"][0].startswith("9c111ab8")
    assert download.SECONDARY[1].endswith("4613a")
