"""Run configuration: typed, every setting documented, bad values refused with one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from thresher.pipelines.config import RunConfig, load_config
from thresher.scorers.errors import ConfigError

EXAMPLE = Path(__file__).parents[1] / "infra" / "run.example.yaml"


def test_example_config_is_current_and_valid(cli):
    code, out, _ = cli("config")
    assert code == 0
    assert EXAMPLE.read_text().strip() == out.strip(), (
        "infra/run.example.yaml is stale: regenerate it with `thresher config > infra/run.example.yaml`"
    )
    data = yaml.safe_load(out)
    # optional sections print their required fields as null: drop them to get the defaults
    for key, field in RunConfig.model_fields.items():
        if field.default is None and isinstance(data.get(key), dict):
            data.pop(key)
    assert RunConfig.model_validate(data) == RunConfig()


def test_every_setting_has_a_description():
    def walk(model, prefix=""):
        for name, field in model.model_fields.items():
            yield f"{prefix}{name}", field
            inner = [
                a
                for a in (field.annotation, *getattr(field.annotation, "__args__", ()))
                if isinstance(a, type) and hasattr(a, "model_fields")
            ]
            if inner:
                yield from walk(inner[0], f"{prefix}{name}.")

    missing = [name for name, field in walk(RunConfig) if not field.description]
    assert missing == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("partitions: 0", "partitions: Input should be greater than or equal to 1 (got 0)"),
        ("ingest: {max_chars: -5}", "ingest.max_chars"),
        ("exact_dedup: {lowercase: maybe}", "exact_dedup.lowercase"),
        ("run_id: ../escape", "run_id"),
        ("colour: blue", "unknown setting 'colour'"),
        ("[1, 2]", "must be a mapping"),
        ("ingest: {max_chars: [", "not valid YAML/JSON at line 1"),
    ],
)
def test_bad_config_values_are_one_clear_line(tmp_path, text, message):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_cli_overrides_win_over_the_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("out: from-file\npartitions: 3\n")
    config = load_config(str(path), out="from-cli", partitions=None)
    assert config.out == "from-cli" and config.partitions == 3
