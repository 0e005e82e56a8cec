"""A generated secret kept in a private file, for installs that set none."""

import os
import secrets
from pathlib import Path


def read_or_create_secret(path: Path, nbytes: int = 50) -> str:
    """Return the secret stored at PATH, creating it (mode 0600) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process (or an earlier start) created it first.
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as file:
        file.write(value)
    return value
