import pytest

from qa_data.config import ConfigError, load_config, save_config
from qa_data.sim.config import GeneratorConfig, build_config, preset_path


def test_presets_load_and_override():
    cfg = load_config(GeneratorConfig, preset_path("full"), ["camera.width=640", "seed=3"])
    assert (cfg.camera.width, cfg.camera.height, cfg.seed) == (640, 320, 3)
    assert cfg.splits.train == 10000 and cfg.splits.validation == 5000 and cfg.splits.test == 5000
    tiny = load_config(GeneratorConfig, preset_path("tiny"))
    assert tiny.rendered_frames == 128 and tiny.simulated_frames == 175


def test_unknown_key_and_bad_type_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="no_such_key"):
        load_config(GeneratorConfig, None, ["camera.no_such_key=1"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("scene: {max_objects: many}\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(GeneratorConfig, bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(GeneratorConfig, tmp_path / "missing.yaml")


def test_num_videos_keeps_split_proportions_and_roundtrips(tmp_path):
    cfg = build_config("tiny", 30, 1, [])
    assert (cfg.splits.train, cfg.splits.validation, cfg.splits.test) == (20, 5, 5)
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(GeneratorConfig, tmp_path / "c.yaml") == cfg


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_an_empty_config_file_is_refused_not_read_as_the_defaults(tmp_path, text):
    empty = tmp_path / "empty.yaml"
    empty.write_text(text)
    with pytest.raises(ConfigError, match="empty.yaml: the config file holds no settings"):
        load_config(GeneratorConfig, empty)
