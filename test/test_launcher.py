import yaml

from semcomm_ros.config import load_sections
from semcomm_ros.launcher import NodeProcess, overrides_file


def test_overrides_go_to_a_second_params_file_under_the_node_name(tmp_path, repo):
    n = NodeProcess("decoder_node", {"reconstruction.backend": "none", "qos.image_depth": 2})
    cmd = n.command(repo / "config" / "semcomm.yaml", tmp_path)
    assert cmd[1:3] == ["-m", "semcomm_ros.nodes.decoder_node"]
    files = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--params-file"]
    assert files[0].endswith("semcomm.yaml") and len(files) == 2
    sections = load_sections(files[1])
    assert sections == {"semcomm_decoder": {"reconstruction.backend": "none",
                                            "qos.image_depth": 2}}


def test_no_overrides_no_second_file(tmp_path):
    cmd = NodeProcess("encoder_node").command(tmp_path / "c.yaml", tmp_path)
    assert cmd.count("--params-file") == 1


def test_prefix_runs_inside_a_namespace(tmp_path):
    cmd = NodeProcess("link_monitor_node", prefix=["ip", "netns", "exec", "x"]).command(
        tmp_path / "c.yaml", tmp_path)
    assert cmd[:4] == ["ip", "netns", "exec", "x"]


def test_overrides_file_is_plain_yaml(tmp_path):
    path = overrides_file("source_node", {"max_frames": 3, "source": "a b"}, tmp_path)
    assert yaml.safe_load(path.read_text()) == {
        "semcomm_source": {"ros__parameters": {"max_frames": 3, "source": "a b"}}}
