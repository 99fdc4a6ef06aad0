"""The app (ui/app.py, ui/__init__.py): built without launching; importing the UI loads no Gradio."""

import subprocess
import sys

from atlas_qa.ui import build_app


def test_app_builds_without_launching_and_serves_several_users_at_once(hash_atlas):
    app = build_app(hash_atlas)
    assert app.title == "atlas-qa" and not app.is_running
    assert app._queue.default_concurrency_limit == 4


def test_importing_the_ui_loads_no_gradio():
    code = "import sys, atlas_qa.ui; assert 'gradio' not in sys.modules and 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
