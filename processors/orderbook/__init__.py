"""The order book processor: L2 books from market depth, top of book, resync notices and analytics."""
