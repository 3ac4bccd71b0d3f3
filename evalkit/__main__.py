"""``python -m evalkit``."""

from evalkit._cli.main import main

if __name__ == "__main__":
    main()
