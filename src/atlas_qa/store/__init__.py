"""The only code that talks to Chroma: the client and collection names (`client`), the write locks (`locks`), the
records a page and its chunks become (`records`), one course's index (`index`) and its archives (`backup`)."""
