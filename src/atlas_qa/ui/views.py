"""`Views`: what each part of the app shows, from the Atlas and the session's state. Plain values in and out."""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..asking import Asker
from ..config import Settings
from ..insight import QuestionLog
from ..ratings import FeedbackStore
from .attribution import AttributionViews
from .chat import ChatViews
from .instructor import InstructorViews
from .reviews import ReviewViews
from .sources import SourceViews


class Views(SourceViews, ChatViews, AttributionViews, InstructorViews, ReviewViews):
    """The app's views over one Atlas: chat and sources (everyone), attribution, corpus, feedback and
    reviewed answers (instructors).

    No Gradio: the app wiring (`app.build_app`) turns events into calls of these methods.
    """

    def __init__(
        self,
        atlas: Any,
        feedback: FeedbackStore | None = None,
        export_dir: Path | None = None,
        who: Callable[[Any], str] = lambda request: "local",
        asker: Asker | None = None,
    ) -> None:
        """`feedback`: the course's question log and ratings (default: in the atlas's store); `who(request)`: the
        name of the user making a request (questions are logged under its pseudonym)."""
        self.atlas = atlas
        settings = getattr(atlas, "settings", None) or Settings()
        self.feedback = feedback or FeedbackStore(QuestionLog.open(settings, atlas), settings.course)
        self.asker = asker or Asker(atlas, self.feedback.log)  # the one way to ask (and log), as the REST API's
        self.who = who
        self.corpus = Path(getattr(settings, "corpus", "corpus")).resolve()
        self._export_dir = export_dir

    def export_dir(self) -> Path:
        """A private temp folder for downloads (Gradio copies a returned file into its own cache to serve it)."""
        if self._export_dir is None:
            self._export_dir = Path(tempfile.mkdtemp(prefix="atlas-qa-export-"))
            weakref.finalize(self, shutil.rmtree, self._export_dir, True)  # gone with the app (or at exit)
        self._export_dir.mkdir(parents=True, exist_ok=True)
        return self._export_dir
