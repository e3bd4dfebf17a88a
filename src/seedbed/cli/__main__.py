from seedbed.cli import main

main()
