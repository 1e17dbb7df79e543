"""Subcommands that live in a module of their own.

Each module here has ``add_parser(sub) -> argparse.ArgumentParser`` (it adds its subparser to
``sub`` and sets ``func``) and is listed in :data:`simulator.cli.COMMAND_MODULES`. The larger
commands live here so that ``cli.py`` stays readable in one sitting.
"""
