"""The ``trtbench check`` command (registered on the CLI group with ``add_command``)."""

from __future__ import annotations

import json

import click


@click.command("check")
@click.argument("onnx_file", type=click.Path(dir_okay=False))
@click.option("--plugin", "plugins", multiple=True,
              help="Op type of a plugin you will load (its nodes then pass); repeatable.")
@click.option("--verbose", "-v", is_flag=True, help="Also list informational findings.")
@click.option("--json", "as_json", is_flag=True, help="Print the audit as JSON.")
def check(onnx_file: str, plugins: tuple[str, ...], verbose: bool, as_json: bool) -> None:
    """Audit ONNX_FILE for TensorRT without TensorRT: unsupported ops, dynamic channels, plugins, shapes.

    Exits 1 when TensorRT would reject the file (errors, or plugins not declared with --plugin).
    """
    from . import audit_onnx, format_audit

    audit = audit_onnx(onnx_file)
    if as_json:
        click.echo(json.dumps(audit.to_dict() | {"passed": audit.passed(plugins)}, indent=2))
    else:
        click.echo(format_audit(audit, plugins, verbose))
    if not audit.passed(plugins):
        raise click.exceptions.Exit(1)
