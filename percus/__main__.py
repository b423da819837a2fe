from percus.cli import main

main()
