from ferrocorn.cli import main

main()
