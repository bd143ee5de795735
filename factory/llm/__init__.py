"""The one generation client: model resolution and identity, request cache, the streaming loop, backends."""
