"""Run the atlas-qa chat app on the configured corpus: `python app.py` (same as `atlas-qa serve`)."""

from atlas_qa.config import Settings
from atlas_qa.ui import serve

if __name__ == "__main__":
    serve(Settings.from_env())
