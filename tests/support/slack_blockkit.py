"""Slack's Block Kit limits, checked the way the Web API checks them.

The emulator calls `validate_blocks` before it stores a message or a view. A failure comes back
as Slack words it: one line per problem, `<what> [json-pointer:/blocks/0/text/text]`, which the
emulator returns under `errors` and, prefixed with `[ERROR] `, under `response_metadata.messages`
of an `invalid_blocks` answer. Limits are the documented ones (docs.slack.dev Block Kit
reference): 50 blocks in a message and 100 in a view, text objects 1..3,000 characters, section
text 3,000, section fields 10 x 2,000, header 150 (plain_text only), context 10 elements,
actions 25 elements, button text 75 / value 2,000 / url 3,000, block_id and action_id 255,
markdown blocks 12,000 characters in all.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MAX_BLOCKS_IN_MESSAGE",
    "MAX_BLOCKS_IN_VIEW",
    "MAX_MESSAGE_TEXT",
    "validate_blocks",
    "validate_view",
]

MAX_BLOCKS_IN_MESSAGE = 50
MAX_BLOCKS_IN_VIEW = 100
MAX_MESSAGE_TEXT = 40_000  # beyond this Slack truncates `text` and warns `message_truncated`

_TEXT_OBJECT_MAX = 3_000
_SECTION_FIELDS_MAX_ITEMS = 10
_SECTION_FIELD_MAX = 2_000
_HEADER_MAX = 150
_CONTEXT_MAX_ELEMENTS = 10
_ACTIONS_MAX_ELEMENTS = 25
_BUTTON_TEXT_MAX = 75
_BUTTON_VALUE_MAX = 2_000
_URL_MAX = 3_000
_ID_MAX = 255
_IMAGE_ALT_MAX = 2_000
_MARKDOWN_TOTAL_MAX = 12_000
_VIEW_TITLE_MAX = 24
_PRIVATE_METADATA_MAX = 3_000

_MESSAGE_BLOCK_TYPES = frozenset({
    "actions", "context", "divider", "file", "header", "image", "markdown", "rich_text",
    "section", "table", "video",
})
_VIEW_BLOCK_TYPES = _MESSAGE_BLOCK_TYPES | {"input"}


def validate_blocks(blocks: Any, *, pointer: str = "/blocks",
                    max_blocks: int = MAX_BLOCKS_IN_MESSAGE,
                    allowed_types: frozenset[str] = _MESSAGE_BLOCK_TYPES) -> list[str]:
    """Every limit `blocks` breaks, worded as Slack words it; empty when the blocks are valid."""
    if not isinstance(blocks, list):
        return [f"must provide an array [json-pointer:{pointer}]"]
    errors: list[str] = []
    if len(blocks) > max_blocks:
        errors.append(f"no more than {max_blocks} items allowed [json-pointer:{pointer}]")
    seen_block_ids: set[str] = set()
    markdown_total = 0
    for index, block in enumerate(blocks):
        at = f"{pointer}/{index}"
        if not isinstance(block, dict):
            errors.append(f"must provide an object [json-pointer:{at}]")
            continue
        kind = block.get("type")
        if kind not in allowed_types:
            errors.append(f"unsupported type: {kind} [json-pointer:{at}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            errors += _string(block_id, f"{at}/block_id", _ID_MAX)
            if block_id in seen_block_ids:
                errors.append(f"duplicate block_id: {block_id} [json-pointer:{at}/block_id]")
            seen_block_ids.add(block_id)
        if kind == "markdown":
            text = block.get("text")
            markdown_total += len(text) if isinstance(text, str) else 0
        errors += _BLOCK_CHECKS.get(kind, _no_check)(block, at)
    if markdown_total > _MARKDOWN_TOTAL_MAX:
        errors.append(f"markdown blocks must be less than {_MARKDOWN_TOTAL_MAX + 1} characters "
                      f"in total [json-pointer:{pointer}]")
    return errors


def validate_view(view: Any) -> list[str]:
    """Every limit a modal view breaks (title 24, blocks 100, private_metadata 3,000)."""
    if not isinstance(view, dict):
        return ["must provide an object [json-pointer:/view]"]
    errors: list[str] = []
    if view.get("type") not in ("modal", "home"):
        errors.append("must be one of modal, home [json-pointer:/view/type]")
    if view.get("type") == "modal":
        if "title" not in view:
            errors.append("missing required field: title [json-pointer:/view]")
        else:
            errors += _text_object(view["title"], "/view/title", _VIEW_TITLE_MAX, plain_only=True)
        for button in ("submit", "close"):
            if button in view:
                errors += _text_object(view[button], f"/view/{button}", _VIEW_TITLE_MAX,
                                       plain_only=True)
    if "private_metadata" in view:
        errors += _string(view["private_metadata"], "/view/private_metadata",
                          _PRIVATE_METADATA_MAX, minimum=0)
    if "callback_id" in view:
        errors += _string(view["callback_id"], "/view/callback_id", _ID_MAX, minimum=0)
    errors += validate_blocks(view.get("blocks"), pointer="/view/blocks",
                              max_blocks=MAX_BLOCKS_IN_VIEW, allowed_types=_VIEW_BLOCK_TYPES)
    return errors


def _no_check(block: dict[str, Any], at: str) -> list[str]:
    return []


def _string(value: Any, at: str, maximum: int, *, minimum: int = 1) -> list[str]:
    if not isinstance(value, str):
        return [f"must be a string [json-pointer:{at}]"]
    if len(value) > maximum:
        return [f"must be less than {maximum + 1} characters [json-pointer:{at}]"]
    if len(value) < minimum:
        return [f"must be more than {minimum - 1} characters [json-pointer:{at}]"]
    return []


def _text_object(obj: Any, at: str, maximum: int = _TEXT_OBJECT_MAX, *,
                 plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict):
        return [f"must provide an object [json-pointer:{at}]"]
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in allowed:
        return [f"must be one of {', '.join(allowed)} [json-pointer:{at}/type]"]
    problems = _string(obj.get("text"), f"{at}/text", maximum)
    if problems and not plain_only:
        # Slack reports a text object that could be either type as a failed schema match too.
        return [f"failed to match all allowed schemas [json-pointer:{at}]", *problems]
    return problems


def _section(block: dict[str, Any], at: str) -> list[str]:
    errors: list[str] = []
    if "text" not in block and "fields" not in block:
        errors.append(f"must provide either text or fields [json-pointer:{at}]")
    if "text" in block:
        errors += _text_object(block["text"], f"{at}/text")
    if "fields" in block:
        fields = block["fields"]
        if not isinstance(fields, list):
            errors.append(f"must provide an array [json-pointer:{at}/fields]")
        else:
            if len(fields) > _SECTION_FIELDS_MAX_ITEMS:
                errors.append(f"no more than {_SECTION_FIELDS_MAX_ITEMS} items allowed "
                              f"[json-pointer:{at}/fields]")
            for index, field in enumerate(fields):
                errors += _text_object(field, f"{at}/fields/{index}", _SECTION_FIELD_MAX)
    if "accessory" in block:
        errors += _element(block["accessory"], f"{at}/accessory")
    return errors


def _header(block: dict[str, Any], at: str) -> list[str]:
    return _text_object(block.get("text"), f"{at}/text", _HEADER_MAX, plain_only=True)


def _context(block: dict[str, Any], at: str) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list):
        return [f"must provide an array [json-pointer:{at}/elements]"]
    errors: list[str] = []
    if not elements:
        errors.append(f"must provide at least 1 item [json-pointer:{at}/elements]")
    if len(elements) > _CONTEXT_MAX_ELEMENTS:
        errors.append(f"no more than {_CONTEXT_MAX_ELEMENTS} items allowed "
                      f"[json-pointer:{at}/elements]")
    for index, element in enumerate(elements):
        where = f"{at}/elements/{index}"
        if isinstance(element, dict) and element.get("type") == "image":
            errors += _image_fields(element, where)
        else:
            errors += _text_object(element, where)
    return errors


def _actions(block: dict[str, Any], at: str) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list):
        return [f"must provide an array [json-pointer:{at}/elements]"]
    errors: list[str] = []
    if len(elements) > _ACTIONS_MAX_ELEMENTS:
        errors.append(f"no more than {_ACTIONS_MAX_ELEMENTS} items allowed "
                      f"[json-pointer:{at}/elements]")
    for index, element in enumerate(elements):
        errors += _element(element, f"{at}/elements/{index}")
    return errors


def _element(element: Any, at: str) -> list[str]:
    if not isinstance(element, dict):
        return [f"must provide an object [json-pointer:{at}]"]
    errors: list[str] = []
    if "action_id" in element:
        errors += _string(element["action_id"], f"{at}/action_id", _ID_MAX)
    if element.get("type") == "button":
        errors += _text_object(element.get("text"), f"{at}/text", _BUTTON_TEXT_MAX,
                               plain_only=True)
        if "value" in element:
            errors += _string(element["value"], f"{at}/value", _BUTTON_VALUE_MAX)
        if "url" in element:
            errors += _string(element["url"], f"{at}/url", _URL_MAX)
        if element.get("style", "primary") not in ("primary", "danger"):
            errors.append(f"must be one of primary, danger [json-pointer:{at}/style]")
    elif element.get("type") == "image":
        errors += _image_fields(element, at)
    return errors


def _image_fields(element: dict[str, Any], at: str) -> list[str]:
    errors = _string(element.get("alt_text"), f"{at}/alt_text", _IMAGE_ALT_MAX)
    if "image_url" in element:
        errors += _string(element["image_url"], f"{at}/image_url", _URL_MAX)
    elif "slack_file" not in element:
        errors.append(f"must provide either image_url or slack_file [json-pointer:{at}]")
    return errors


def _image(block: dict[str, Any], at: str) -> list[str]:
    errors = _image_fields(block, at)
    if "title" in block:
        errors += _text_object(block["title"], f"{at}/title", _IMAGE_ALT_MAX, plain_only=True)
    return errors


def _markdown(block: dict[str, Any], at: str) -> list[str]:
    return _string(block.get("text"), f"{at}/text", _MARKDOWN_TOTAL_MAX)


def _input(block: dict[str, Any], at: str) -> list[str]:
    errors = _text_object(block.get("label"), f"{at}/label", 2_000, plain_only=True)
    if not isinstance(block.get("element"), dict):
        errors.append(f"must provide an object [json-pointer:{at}/element]")
    else:
        errors += _element(block["element"], f"{at}/element")
    return errors


_BLOCK_CHECKS = {
    "actions": _actions,
    "context": _context,
    "header": _header,
    "image": _image,
    "input": _input,
    "markdown": _markdown,
    "section": _section,
}
