# The hub_server and hf_env fixtures: a local Hugging Face Hub that the real huggingface_hub client talks to.
pytest_plugins = ["segzoo.testing.pytest_plugin"]
