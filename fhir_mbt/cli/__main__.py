import sys

from fhir_mbt.cli import main

sys.exit(main())
