"""Reading a multipart/form-data upload body (an HTML form, ``curl -F``): the fields
before the file, then the file's bytes as a stream of pieces. (A raw body is read with
``http.bodies.body_pieces``.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import BodyPartReader, MultipartReader, web

from filefleet.core.errors import InvalidInput

PIECE = 1024 * 1024
MAX_FIELD = 4096


async def read_form_fields(
    request: web.Request,
) -> tuple[dict[str, str], BodyPartReader, MultipartReader]:
    """Fields up to the ``file`` part, that part (unread) and the reader."""
    reader = await request.multipart()
    fields: dict[str, str] = {}
    while True:
        part = await reader.next()
        if part is None:
            raise InvalidInput("multipart body has no 'file' field")
        if not isinstance(part, BodyPartReader):
            raise InvalidInput("nested multipart bodies are not supported")
        if part.name == "file":
            return fields, part, reader
        value = await part.read(decode=True)
        if len(value) > MAX_FIELD:
            raise InvalidInput(f"form field {part.name!r} is too long")
        fields[part.name or ""] = value.decode("utf-8", "replace").strip()


async def file_part_pieces(part: BodyPartReader, reader: MultipartReader) -> AsyncIterator[bytes]:
    """The bytes of the file part; a field after it is a 400 (options go before the file),
    raised before the upload is completed, so the file is never made active."""
    while piece := await part.read_chunk(PIECE):
        yield piece
    following = await reader.next()
    if following is not None:
        name = getattr(following, "name", None)
        raise InvalidInput(f"form field {name!r} comes after the file: send options before 'file'")


async def file_parts(
    first: BodyPartReader, reader: MultipartReader
) -> AsyncIterator[BodyPartReader]:
    """Every ``file`` part of a bundle, in order, from ``first`` on; each must be read to
    its end before the next is asked for. Any other field after them is a 400."""
    part: object = first
    while part is not None:
        if not isinstance(part, BodyPartReader) or part.name != "file":
            name = getattr(part, "name", None)
            raise InvalidInput(
                f"form field {name!r} comes after a file: send options before 'file'"
            )
        yield part
        part = await reader.next()
