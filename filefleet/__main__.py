from filefleet.cli import main

main()
