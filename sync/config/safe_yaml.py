"""Safe YAML for the config: no duplicate keys, no alias bombs, errors with file:line:column."""

from __future__ import annotations

from typing import Any

import yaml

from sync.errors import ConfigError

# A config has a few hundred nodes; more than this after alias expansion is a YAML bomb.
MAX_EXPANDED_NODES = 100_000


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (the last one would silently win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` keys may be overridden: that is the point of them
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found the key {key!r} twice",
                    key_node.start_mark,
                )
            if isinstance(key, str):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, where: str) -> Any:
    """The YAML document, or a ConfigError naming file:line:column (duplicate keys, bombs)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}, set()) > MAX_EXPANDED_NODES:
            raise ConfigError(
                f"{where}: aliases expand to more than {MAX_EXPANDED_NODES} YAML nodes; "
                "refusing a possible YAML bomb"
            )
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark else where
        raise ConfigError(f"{at}: YAML syntax error: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: YAML error: {type(exc).__name__}") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply or a recursive alias") from None
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, memo: dict[int, int], active: set[int]) -> int:
    """Node count with every alias expanded (memoized: aliases share node objects)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        raise RecursionError  # an alias inside its own anchor
    active.add(key)
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_expanded_size(child, memo, active) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            total += _expanded_size(k, memo, active) + _expanded_size(v, memo, active)
            if total > MAX_EXPANDED_NODES:
                break
    active.discard(key)
    memo[key] = total
    return total
