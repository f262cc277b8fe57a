"""The workbench's screens: the main run screen, help and the input dialogs."""
