"""Private file storage for issued 发票 PDFs. No base URL: nothing here is ever served by the web
server; the portal streams a file only after checking the account (accounts.portal.views.invoices)."""

from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage


def private_root() -> Path:
    return Path(settings.HARNMODEL_PRIVATE_MEDIA_ROOT)


class PrivateStorage(FileSystemStorage):
    """The root is read from settings at each use, so a test (or a deploy) can point it elsewhere."""

    def __init__(self) -> None:
        super().__init__(base_url=None)

    @property
    def base_location(self):
        return str(private_root())

    @property
    def location(self):
        return str(private_root().resolve())

    def url(self, name):
        raise ValueError("invoice files are private: download them through the portal")
