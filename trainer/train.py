"""`python -m trainer.train ...`: the trial CLI's module entry (the CLI is trainer.run.cli,
the loop trainer.run.loop)."""
import sys

if __name__ == "__main__":
    from trainer.run.cli import main
    sys.exit(main())
