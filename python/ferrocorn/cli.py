"""Console entry point: pass the command line to the Rust side and exit with its status."""
import sys


def main(argv=None):
    from ._ferrocorn import run

    args = list(sys.argv if argv is None else argv)
    if args:
        args[0] = "ferrocorn"
    sys.exit(run(args))


if __name__ == "__main__":
    main()
