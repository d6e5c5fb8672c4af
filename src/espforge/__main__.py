from espforge.cli.main import main

main()
