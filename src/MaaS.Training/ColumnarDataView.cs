using Microsoft.ML;
using Microsoft.ML.Data;

namespace MaaS.Training;

/// <summary>
/// An in-memory IDataView over column arrays (float or string), viewed through a row index. ML.NET offers
/// LoadFromEnumerable only for compile-time classes; a CSV's columns are known at run time, and the ONNX export needs
/// one scalar column per input, so the view is built directly.
/// </summary>
internal sealed class ColumnarDataView : IDataView
{
    private readonly Array[] _columns;
    private readonly int[] _rows;

    public ColumnarDataView(IReadOnlyList<(string Name, Array Values)> columns, int[] rows)
    {
        var builder = new DataViewSchema.Builder();
        foreach (var (name, values) in columns)
        {
            builder.AddColumn(name, values switch
            {
                float[] => NumberDataViewType.Single,
                ReadOnlyMemory<char>[] => TextDataViewType.Instance,
                _ => throw new ArgumentException($"Column '{name}' must be float[] or ReadOnlyMemory<char>[]."),
            });
        }
        Schema = builder.ToSchema();
        _columns = columns.Select(c => c.Values).ToArray();
        _rows = rows;
    }

    public bool CanShuffle => false;

    public DataViewSchema Schema { get; }

    public long? GetRowCount() => _rows.Length;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => new Cursor(this);

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) => [new Cursor(this)];

    private sealed class Cursor(ColumnarDataView view) : DataViewRowCursor
    {
        private long _position = -1;

        public override long Position => _position;

        public override long Batch => 0;

        public override DataViewSchema Schema => view.Schema;

        public override bool IsColumnActive(DataViewSchema.Column column) => true;

        public override bool MoveNext()
        {
            if (_position + 1 >= view._rows.Length) return false;
            _position++;
            return true;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            var values = view._columns[column.Index];
            if (values is float[] floats && typeof(TValue) == typeof(float))
            {
                ValueGetter<float> getter = (ref float value) => value = floats[view._rows[_position]];
                return (ValueGetter<TValue>)(object)getter;
            }
            if (values is ReadOnlyMemory<char>[] texts && typeof(TValue) == typeof(ReadOnlyMemory<char>))
            {
                ValueGetter<ReadOnlyMemory<char>> getter = (ref ReadOnlyMemory<char> value) => value = texts[view._rows[_position]];
                return (ValueGetter<TValue>)(object)getter;
            }
            throw new InvalidOperationException($"Column '{column.Name}' cannot be read as {typeof(TValue).Name}.");
        }

        public override ValueGetter<DataViewRowId> GetIdGetter() =>
            (ref DataViewRowId value) => value = new DataViewRowId((ulong)view._rows[_position], 0);
    }
}
