"""Publishing a version: the dataset card (with its healthcare risks) and the Hub push."""
