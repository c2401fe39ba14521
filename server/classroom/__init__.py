"""A class's course loop: deadlines and late policy, the private board and its reveal, each
participant's final selection, and grades for the gradebook."""
