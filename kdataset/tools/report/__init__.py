"""`kdataset report`: one offline HTML page about a data set's splits (see `writing`)."""
