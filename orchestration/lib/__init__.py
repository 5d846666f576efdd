"""What every stage of the graph shares: keys, translators, the load factory, resources."""
