from crm.cli.main import main

main()
