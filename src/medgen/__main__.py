"""`python -m medgen` runs the command line (also under `accelerate launch -m medgen`)."""

from medgen.cli import main

if __name__ == "__main__":
    main()
