"""Labels: encoders, targets held as class indices, fields of a batch, class weights."""
