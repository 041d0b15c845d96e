import pytest

from gfn_stream.pipeline.cli import build_parser, config_from_args
from gfn_stream.pipeline.config import ConfigError, load_toml


def test_shipped_configs_load():
    from pathlib import Path

    import gfn_stream.configs as configs

    for path in Path(configs.__file__).parent.glob("*.toml"):
        if path.name.startswith("train_"):
            continue
        load_toml(path)


def test_default_toml_lists_every_key_with_the_dataclasses_default():
    """configs/default.toml states each key (a commented line where the default is None or derived), and the values
    it sets are the dataclasses' defaults: loading it changes nothing. The worker's defaults are stated once, in
    nodes/worker_settings.py; a run's [pipeline] takes them from there."""
    import dataclasses
    import re
    from pathlib import Path

    import gfn_stream.configs as configs
    from gfn_stream.nodes.worker_settings import WorkerSettings
    from gfn_stream.pipeline.config import SECTIONS, PipelineSettings, RunConfig

    path = Path(configs.__file__).parent / "default.toml"
    assert load_toml(path) == RunConfig()
    listed, section = {}, None
    for line in path.read_text().splitlines():
        if m := re.match(r"\[(\w+)\]", line):
            section = m.group(1)
        elif (m := re.match(r"#?\s*(\w+)\s*=", line)) and section:
            listed.setdefault(section, set()).add(m.group(1))
    for name, cls in SECTIONS.items():
        assert {f.name for f in dataclasses.fields(cls)} <= listed.get(name, set()), name
    for key in ("heartbeat_s", "liveness", "stall_s", "stall_factor"):
        assert getattr(PipelineSettings(), key) == getattr(WorkerSettings(), key), key


def test_unknown_keys_and_sections_are_errors(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[model]\nbatchsize = 4\n")
    with pytest.raises(ConfigError, match="unknown key 'batchsize'"):
        load_toml(f)
    f.write_text("[modle]\nbatch = 4\n")
    with pytest.raises(ConfigError, match="unknown section"):
        load_toml(f)
    f.write_text("[model]\nbatch = '4'\n")
    with pytest.raises(ConfigError, match="must be int"):
        load_toml(f)
    f.write_text("[model\n")
    with pytest.raises(ConfigError):
        load_toml(f)
    with pytest.raises(ConfigError, match="not found"):
        load_toml(tmp_path / "missing.toml")


def test_cli_overrides_config(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[model]\nbatch = 2\nmodel = 'bicubic'\n[encode]\ncrf = 30\n")
    args = build_parser().parse_args(["a.mp4", "b.mp4", "--config", str(f), "--batch", "3", "--bitrate", "2M"])
    cfg = config_from_args(args)
    assert cfg.model.batch == 3 and cfg.model.model == "bicubic"
    assert cfg.encode.bitrate == "2M" and cfg.encode.crf is None
    with pytest.raises(ConfigError):
        config_from_args(build_parser().parse_args(["a", "b", "--workers", "0"]))


def test_the_shared_loader_checks_every_name_and_type():
    """fromdict.py: the one dict -> dataclass loader of the run settings, gfn-train's config and GFNConfig."""
    from dataclasses import dataclass, field

    from gfn_stream import fromdict

    @dataclass
    class Section:
        rate: float = 1.0
        count: int | None = None
        flag: bool = False
        pair: tuple[int, int] = (1, 2)
        names: list[str] = field(default_factory=list)

    s = fromdict.build(Section, {"rate": 2, "count": 3, "pair": [4, 5], "names": ["a"]}, "[s]")
    assert s == Section(rate=2.0, count=3, pair=(4, 5), names=["a"]) and isinstance(s.rate, float)
    assert fromdict.build(Section, {"count": None}, "[s]").count is None
    for bad, words in [({"rate": "2"}, "rate must be float"), ({"count": True}, "count must be int or nothing"),
                       ({"flag": 1}, "flag must be bool"), ({"pair": [1]}, "pair must be 2 values"),
                       ({"names": [1]}, "names must be a list of str"), ({"nmes": []}, "unknown key 'nmes'")]:
        with pytest.raises(ConfigError, match=words):
            fromdict.build(Section, bad, "[s]", ConfigError)
    assert fromdict.replace(Section(flag=True), {"rate": 3}, "[s]") == Section(rate=3.0, flag=True)
