//! Configuration: MirrorMaker 2 properties files, read unchanged.
