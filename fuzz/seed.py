#!/usr/bin/env python3
"""Writes the seed corpora for the fuzz targets from the test vectors."""
import json
import pathlib

root = pathlib.Path(__file__).resolve().parent
repo = root.parent
corpus = root / "corpus"

frames = json.loads((repo / "rstream-core/tests/vectors/protocol-frames.json").read_text())
hooks = json.loads((repo / "rstream-webhooks/tests/vectors/webhook-vectors.json").read_text())

def write(target, name, data):
    folder = corpus / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)

all_frames = b""
for case in frames["cases"]:
    frame = bytes.fromhex(case["frame_hex"])
    all_frames += frame
    write("frame_decode", case["name"], frame)
    write("control_frames", case["name"], frame)
write("frame_decode", "all", all_frames)
write("control_frames", "all", all_frames)

for i, sig in enumerate(hooks["signatures"]):
    write("webhook_verify", f"sig{i}", (sig["header"] + "\n" + sig["body"]).encode())

write("config_resolve", "context", b"RSTREAM_CONTEXT=a\n---ENV---\nversion: 1\ncurrent-context: a\ncontexts:\n  - name: a\n    engine: engine.example.com:443\n    token: tok_1\n")
write("config_resolve", "merge", b"base: &b\n  engine: e.example.com\ncontexts:\n  - <<: *b\n    name: a\n")
print(f"seeds written under {corpus.relative_to(repo)}")
