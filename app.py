"""Run the atlas-qa chat app on the configured corpus: `python app.py [serve options]` (same as `atlas-qa serve`)."""

import sys

from atlas_qa.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
