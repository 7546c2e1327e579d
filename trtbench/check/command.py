"""The ``trtbench check`` command (registered on the CLI group with ``add_command``)."""

from __future__ import annotations

import click

from ..cli_options import EXIT_GATE_FAILED, check_outputs, emit_json, json_option


@click.command("check")
@click.argument("onnx_file", type=click.Path(dir_okay=False))
@click.option("--plugin", "plugins", multiple=True,
              help="Op type of a plugin you will load (its nodes then pass); repeatable.")
@click.option("--verbose", "-v", is_flag=True, help="Also list informational findings.")
@json_option("Write the audit as JSON to FILE ('-' or no FILE: standard output).")
def check(onnx_file: str, plugins: tuple[str, ...], verbose: bool, json_path: str | None) -> None:
    """Audit ONNX_FILE for TensorRT without TensorRT: unsupported ops, dynamic channels, plugins, shapes.

    Exits 1 when TensorRT would reject the file (errors, or plugins not declared with --plugin).
    """
    from . import audit_onnx, format_audit

    check_outputs((json_path, "--json"))
    audit = audit_onnx(onnx_file)
    if json_path:
        emit_json(json_path, lambda: audit.to_dict() | {"passed": audit.passed(plugins)})
    if json_path != "-":
        click.echo(format_audit(audit, plugins, verbose))
    if not audit.passed(plugins):
        raise click.exceptions.Exit(EXIT_GATE_FAILED)
